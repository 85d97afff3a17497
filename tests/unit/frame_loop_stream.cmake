# The batch frame loop's per-song callbacks (frames handed out in chunks, each song as it ends,
# per-song lengths) on the tiny fixture LM: what they hand out equals the songs made alone.
heartmula_add_test(test_frame_loop_stream
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_frame_loop_stream.cpp
  LIBS heartmula_runtime heartmula_model heartmula_io
  LABEL unit)
