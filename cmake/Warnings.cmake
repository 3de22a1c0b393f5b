# dsconv_warnings(<target>): the warning set every dsconv target builds clean under.
# The "ci" preset turns DSCONV_WARNINGS_AS_ERRORS on, so a new warning fails the build.
function(dsconv_warnings target)
  set(cxx_flags -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
  set(cuda_flags -Xcompiler=-Wall,-Wextra -Xptxas=-warn-spills,-warn-lmem-usage)
  if(DSCONV_WARNINGS_AS_ERRORS)
    list(APPEND cxx_flags -Werror)
    list(APPEND cuda_flags --Werror=all-warnings -Xptxas=-Werror)
  endif()
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:${cxx_flags}>
    $<$<COMPILE_LANGUAGE:CUDA>:${cuda_flags}>)
endfunction()
