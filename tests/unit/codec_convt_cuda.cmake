# The decoder's transposed convolution as GEMMs against cuDNN's conv_transpose2d on the real
# stage shapes, with timings (CUDA builds only; device-check's codecl part runs CodecDecoderCuda.*).
if(HEARTMULA_WITH_CUDA)
  heartmula_add_test(test_codec_convt_cuda
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/../cuda/test_codec_convt_cuda.cpp
    LIBS heartmula_codec heartmula_io
    LABEL unit)
endif()
