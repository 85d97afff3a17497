# Tokenizer goldens (HF tokenizers ids); they need the fetched Llama-3 tokenizer.json.
heartmula_add_asset_test(test_tokenizer_golden
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer_golden.cpp
  LIBS heartmula_text nlohmann_json::nlohmann_json
  LABEL golden)
