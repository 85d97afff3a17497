add_executable(heartmula-gen ${CMAKE_CURRENT_LIST_DIR}/heartmula-gen.cpp)
target_link_libraries(heartmula-gen PRIVATE heartmula_runtime CLI11::CLI11 nlohmann_json::nlohmann_json)
