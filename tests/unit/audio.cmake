heartmula_add_test(test_audio
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/test_audio_errors.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_audio_util.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_audio_writer.cpp
  LIBS heartmula_io heartmula::sndfile
  LABEL unit)
