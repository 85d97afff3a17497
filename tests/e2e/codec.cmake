# heartcodec-decode run as a program on the tiny codec fixture.
heartmula_add_test(test_codec_cli
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_codec_cli.cpp
  LIBS heartmula_io
  LABEL e2e)
add_dependencies(test_codec_cli heartcodec-decode)
