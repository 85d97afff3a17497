add_executable(heartmula-quantize
  ${CMAKE_CURRENT_LIST_DIR}/heartmula-quantize.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/random_checkpoint.cpp)
target_include_directories(heartmula-quantize PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(heartmula-quantize PRIVATE heartmula_model heartmula_io CLI11::CLI11 nlohmann_json::nlohmann_json)
