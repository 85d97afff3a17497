# heartmula-gen --stream and -o - on the tiny fixture checkpoint: streamed audio equals the
# non-streamed file bit for bit (single songs, a batch, stdout); streaming is the default and its
# MP3/WAV equal --no-stream's byte for byte; Ctrl-C keeps what exists.
heartmula_add_gen_test(test_gen_stream SOURCE ${CMAKE_CURRENT_LIST_DIR}/test_gen_stream.cpp TIMEOUT 900)
