add_executable(heartmula-bench
  ${CMAKE_CURRENT_LIST_DIR}/heartmula-bench.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/bench_report.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/codec_bench.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/fidelity.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/gemm_bench.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/kernel_names.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/kernel_profile.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/lm_bench.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/model_configs.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/song_bench.cpp)
# --profile: Kineto/CUPTI in CUDA builds of LibTorch; other builds say it is unavailable.
if(HEARTMULA_WITH_CUDA)
  target_sources(heartmula-bench PRIVATE ${CMAKE_CURRENT_LIST_DIR}/bench/kernel_profile_cuda.cpp)
else()
  target_sources(heartmula-bench PRIVATE ${CMAKE_CURRENT_LIST_DIR}/bench/kernel_profile_none.cpp)
endif()
target_include_directories(heartmula-bench PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(heartmula-bench PRIVATE heartmula_runtime CLI11::CLI11 nlohmann_json::nlohmann_json)
