# HeartMuLa language-model parity with the upstream reference (tests/data/lm, tests/data/ckpt).
# Two of its tests compare the project with itself (bf16 against fp32, a batch of songs against
# the songs alone): label consistency; the rest golden.
set(_lm_consistency "LmGoldenExtra.Bf16TeacherForcedStaysClose:LmGoldenExtra.BatchOfSongsMatchesSongsAlone")
heartmula_test_executable(test_lm_golden
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_lm_golden.cpp
  LIBS heartmula_runtime heartmula_model heartmula_io nlohmann_json::nlohmann_json)
heartmula_discover_tests(test_lm_golden LABEL golden FILTER "-${_lm_consistency}")
heartmula_discover_tests(test_lm_golden LABEL consistency FILTER "${_lm_consistency}")

# The prompt check needs the Llama-3 tokenizer.json fetched by the `test_assets` fixture
# (defined in tokenizer.cmake); without it the test fails with a message saying how to get it.
add_executable(test_lm_prompt_golden ${CMAKE_CURRENT_LIST_DIR}/test_lm_prompt_golden.cpp)
target_link_libraries(test_lm_prompt_golden PRIVATE heartmula_model heartmula_text heartmula_io
  nlohmann_json::nlohmann_json GTest::gtest GTest::gtest_main)
target_compile_definitions(test_lm_prompt_golden PRIVATE
  HEARTMULA_TEST_DATA="${HEARTMULA_TEST_DATA}"
  HEARTMULA_TEST_CACHE="${HEARTMULA_TEST_CACHE}")
heartmula_discover_tests(test_lm_prompt_golden LABEL golden ASSETS)
