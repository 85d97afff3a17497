# heartmula-gen --stream and -o - on the tiny fixture checkpoint: streamed audio equals the
# non-streamed file bit for bit (single songs, a batch, stdout); Ctrl-C keeps what exists.
heartmula_test_executable(test_gen_stream
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/gen_test_util.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_gen_stream.cpp
  ${PROJECT_SOURCE_DIR}/tests/unit/test_audio_util.cpp
  LIBS heartmula::sndfile nlohmann_json::nlohmann_json)
add_dependencies(test_gen_stream heartmula-gen)
add_test(NAME e2e_gen_stream COMMAND test_gen_stream)
set_tests_properties(e2e_gen_stream PROPERTIES LABELS e2e FIXTURES_REQUIRED test_assets TIMEOUT 600)
