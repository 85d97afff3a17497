# Output safety of heartmula-gen on the tiny fixture checkpoint: kill -9 while the song is being
# written leaves the old file byte for byte (or nothing), -o /dev/full is a clear error, and the
# <song>.json sidecar agrees with the audio decoded back.
heartmula_test_executable(test_output_safety
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/gen_test_util.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_output_safety.cpp
  ${PROJECT_SOURCE_DIR}/tests/unit/test_audio_util.cpp
  LIBS heartmula::sndfile nlohmann_json::nlohmann_json)
add_dependencies(test_output_safety heartmula-gen)
add_test(NAME e2e_output_safety COMMAND test_output_safety)
set_tests_properties(e2e_output_safety PROPERTIES LABELS e2e FIXTURES_REQUIRED test_assets TIMEOUT 600)
