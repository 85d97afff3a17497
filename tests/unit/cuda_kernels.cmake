# The fused CUDA kernels against the composite ATen versions: CUDA builds only (the GPU
# machine runs them through scripts/device-check.sh ctest); other builds have no such kernels.
if(HEARTMULA_WITH_CUDA)
  heartmula_add_test(test_cuda_kernels
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/../cuda/test_cuda_kernels.cpp
            ${CMAKE_CURRENT_SOURCE_DIR}/../cuda/test_codec_cuda_kernels.cpp
            ${CMAKE_CURRENT_SOURCE_DIR}/../cuda/test_codec_decoder_cuda.cpp
            ${CMAKE_CURRENT_SOURCE_DIR}/../cuda/test_int8_linear_cuda.cpp
    LIBS heartmula_runtime heartmula_model heartmula_codec
    LABEL unit)
endif()
