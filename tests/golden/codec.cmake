heartmula_add_test(test_codec_golden
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_codec_golden.cpp
  LIBS heartmula_codec heartmula_io
  LABEL golden)
