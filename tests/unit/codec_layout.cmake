# The scalar decoder's channels-last layout (the CUDA path) run on the CPU against the NCL path.
heartmula_add_test(test_codec_layout
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_codec_layout.cpp
  LIBS heartmula_codec
  LABEL unit)
