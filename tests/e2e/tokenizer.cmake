# heartmula-tokenize on the Llama-3 tokenizer.json (fetched; see tests/golden/tokenizer.cmake,
# which defines heartmula_add_asset_test and is processed before this directory).
heartmula_add_asset_test(test_tokenize_cli
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tokenize_cli.cpp
  LIBS nlohmann_json::nlohmann_json
  LABEL e2e)
add_dependencies(test_tokenize_cli heartmula-tokenize)
