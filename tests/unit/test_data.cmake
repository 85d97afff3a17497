# The fixtures in tests/data against tests/data/SHA256SUMS (tests/data/README.md says where they
# came from): a changed, missing or unlisted file fails.
add_test(NAME unit_test_data_checksums
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/check_test_data.sh ${HEARTMULA_TEST_DATA})
set_tests_properties(unit_test_data_checksums PROPERTIES LABELS unit TIMEOUT 60)
