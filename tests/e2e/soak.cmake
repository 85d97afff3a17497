# Soak: 200 short songs through one `heartmula-gen --batch` process on the tiny fixtures,
# watching its resident memory and comparing sampled songs with single runs. Label `soak`.
# Registered in sanitizer builds (HEARTMULA_SANITIZE, where LeakSanitizer checks the exit too)
# or with -DHEARTMULA_SOAK=ON; the plain build's ctest does not run it. HEARTMULA_SOAK_SONGS in
# the environment changes the number of songs.
if(HEARTMULA_SANITIZE)
  set(_soak_default ON)
else()
  set(_soak_default OFF)
endif()
option(HEARTMULA_SOAK "Register the soak test (label soak)" ${_soak_default})
if(HEARTMULA_SOAK)
  heartmula_test_executable(test_soak
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/gen_test_util.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_soak.cpp
    LIBS nlohmann_json::nlohmann_json)
  add_dependencies(test_soak heartmula-gen)
  add_test(NAME soak_batch_200 COMMAND test_soak)
  # COST: ctest -j starts it first, beside the unit and e2e tests, instead of last on its own.
  set_tests_properties(soak_batch_200 PROPERTIES LABELS soak FIXTURES_REQUIRED test_assets TIMEOUT 3000 COST 10000)
endif()
