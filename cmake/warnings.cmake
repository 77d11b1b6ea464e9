# Warnings for every target of the project. -Werror is added by CI (AMSIWATCH_WERROR=ON).
option(AMSIWATCH_WERROR "Treat warnings as errors" OFF)
add_compile_options(-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
                    -Wformat=2 -Wno-unused-parameter)
if(AMSIWATCH_WERROR)
  add_compile_options(-Werror)
endif()
add_compile_definitions(_GNU_SOURCE)
