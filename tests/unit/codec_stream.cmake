heartmula_add_test(test_codec_stream
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_codec_stream.cpp
  LIBS heartmula_codec heartmula_io
  LABEL unit)
