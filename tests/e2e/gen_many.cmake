# heartmula-gen with several songs in one LM batch (--num-songs, --batch-size) on the tiny
# fixture checkpoint: the songs equal those made one at a time.
heartmula_test_executable(test_gen_many
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/gen_test_util.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_gen_many.cpp
  ${PROJECT_SOURCE_DIR}/tests/unit/test_audio_util.cpp
  LIBS heartmula::sndfile nlohmann_json::nlohmann_json)
add_dependencies(test_gen_many heartmula-gen)
add_test(NAME e2e_gen_many COMMAND test_gen_many)
set_tests_properties(e2e_gen_many PROPERTIES LABELS e2e FIXTURES_REQUIRED test_assets TIMEOUT 300)
