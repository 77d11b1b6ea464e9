# AMSIWATCH_SANITIZE: "" (none), "address,undefined" or "thread".
set(AMSIWATCH_SANITIZE "" CACHE STRING "Sanitizers to build with")
if(AMSIWATCH_SANITIZE)
  add_compile_options(-fsanitize=${AMSIWATCH_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${AMSIWATCH_SANITIZE})
endif()
