# HeartMuLa language-model parity with the upstream reference (tests/data/lm, tests/data/ckpt).
heartmula_add_test(test_lm_golden
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_lm_golden.cpp
  LIBS heartmula_runtime heartmula_model heartmula_io nlohmann_json::nlohmann_json
  LABEL golden)

# The prompt check needs the Llama-3 tokenizer.json fetched by the `test_assets` fixture
# (defined in tokenizer.cmake); without it the test fails with a message saying how to get it.
add_executable(test_lm_prompt_golden ${CMAKE_CURRENT_LIST_DIR}/test_lm_prompt_golden.cpp)
target_link_libraries(test_lm_prompt_golden PRIVATE heartmula_model heartmula_text heartmula_io
  nlohmann_json::nlohmann_json GTest::gtest GTest::gtest_main)
target_compile_definitions(test_lm_prompt_golden PRIVATE
  HEARTMULA_TEST_DATA="${HEARTMULA_TEST_DATA}"
  HEARTMULA_TEST_CACHE="${HEARTMULA_TEST_CACHE}")
gtest_discover_tests(test_lm_prompt_golden
  PROPERTIES LABELS golden FIXTURES_REQUIRED test_assets
  DISCOVERY_TIMEOUT 120)
