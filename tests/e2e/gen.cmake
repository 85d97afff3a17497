# heartmula-gen end to end on the tiny fixture checkpoint (tests/data/ckpt plus the fetched
# Llama-3 tokenizer.json, hence the test_assets fixture). The real binary runs in temp folders.
#
# One ctest test per gtest suite (not one per TEST): GenSong generates its songs once in
# SetUpTestSuite and its tests share them, and suites can still run in parallel under ctest -j.
heartmula_test_executable(test_gen
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/gen_test_util.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_gen_song.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_gen_cli.cpp
  ${PROJECT_SOURCE_DIR}/tests/unit/test_audio_util.cpp
  LIBS heartmula::sndfile nlohmann_json::nlohmann_json)
add_dependencies(test_gen heartmula-gen)

foreach(_suite GenSong GenInterrupt GenBatch GenErrors GenInfo)
  add_test(NAME e2e_gen_${_suite} COMMAND test_gen --gtest_filter=${_suite}.*:-GenErrors.CudaWithoutCudaSaysSo)
  set_tests_properties(e2e_gen_${_suite} PROPERTIES
    LABELS e2e FIXTURES_REQUIRED test_assets TIMEOUT 300)
endforeach()
# Skipped on a CUDA build: a ctest test of its own, so that the skip shows as skipped (a
# suite-wide skip expression would hide a failure of a neighbour in the same run).
add_test(NAME e2e_gen_CudaWithoutCuda COMMAND test_gen --gtest_filter=GenErrors.CudaWithoutCudaSaysSo)
set_tests_properties(e2e_gen_CudaWithoutCuda PROPERTIES
  LABELS e2e FIXTURES_REQUIRED test_assets TIMEOUT 300 SKIP_REGULAR_EXPRESSION "${HEARTMULA_GTEST_SKIP_REGEX}")
