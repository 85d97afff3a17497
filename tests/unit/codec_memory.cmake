# What the codec holds in memory: weights by dtype, the decoder's working set (issue #7).
heartmula_add_test(test_codec_memory
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_codec_memory.cpp
  LIBS heartmula_codec heartmula_io
  LABEL unit)
