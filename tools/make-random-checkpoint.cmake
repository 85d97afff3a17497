add_executable(make-random-checkpoint
  ${CMAKE_CURRENT_LIST_DIR}/make-random-checkpoint.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/model_configs.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/random_checkpoint.cpp)
target_include_directories(make-random-checkpoint PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(make-random-checkpoint PRIVATE heartmula_model heartmula_codec heartmula_io
  CLI11::CLI11 nlohmann_json::nlohmann_json)
