add_executable(heartmula-tokenize ${CMAKE_CURRENT_LIST_DIR}/heartmula-tokenize.cpp)
target_link_libraries(heartmula-tokenize PRIVATE heartmula_text CLI11::CLI11 nlohmann_json::nlohmann_json)
