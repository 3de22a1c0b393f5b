# header_only_package(<package> <target> <header>): find_package(<package> CONFIG), or else an
# INTERFACE target <target> over the directory that holds <header>.
function(header_only_package package target header)
  find_package(${package} CONFIG QUIET)
  if(TARGET ${target})
    return()
  endif()
  find_path(${package}_HEADER_DIR ${header} REQUIRED)
  add_library(${target} INTERFACE IMPORTED GLOBAL)
  target_include_directories(${target} INTERFACE ${${package}_HEADER_DIR})
  message(STATUS "${package}: header only, in ${${package}_HEADER_DIR}")
endfunction()
