# The codec's precisions against its own fp32 path (not the reference): label consistency.
heartmula_add_test(test_codec_precision
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_codec_precision.cpp
  LIBS heartmula_codec heartmula_io
  LABEL consistency)
