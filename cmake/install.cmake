# What `cmake --install` puts beside the tools, so that other programs can
# link libmds (docs/library.md): the shared library with an RPATH-free
# install name, every header of lib/ under include/mds/, a CMake package
# (find_package(mds) -> mds::mds), a pkg-config file (mds.pc), and bash and
# zsh completion scripts written at build time by each tool's hidden
# `--completion bash|zsh` (the same option definitions as --help).
include(CMakePackageConfigHelpers)

# No SOVERSION: the library stays one plain file, libmds.so, because build
# folders are carried to the GPU machine, where symbolic links do not travel.
# Installed tools find the installed library through their RPATH.
foreach(src ${MDS_CMD_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  set_target_properties(${name} PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
  # Completion scripts, regenerated whenever the tool is relinked.
  add_custom_command(TARGET ${name} POST_BUILD
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/completion/bash ${CMAKE_BINARY_DIR}/completion/zsh
    COMMAND sh -c "\"$1\" --completion bash > \"$2/completion/bash/$3\" && \"$1\" --completion zsh > \"$2/completion/zsh/_$3\""
            sh $<TARGET_FILE:${name}> ${CMAKE_BINARY_DIR} ${name}
    VERBATIM)
  install(FILES ${CMAKE_BINARY_DIR}/completion/bash/${name} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
  install(FILES ${CMAKE_BINARY_DIR}/completion/zsh/_${name} DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/site-functions)
endforeach()

install(TARGETS mds EXPORT mdsTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mds)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/lib/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mds FILES_MATCHING PATTERN "*.h")
install(EXPORT mdsTargets NAMESPACE mds:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mds)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/mdsConfig.cmake.in ${CMAKE_BINARY_DIR}/mdsConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mds)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/mdsConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/mdsConfig.cmake ${CMAKE_BINARY_DIR}/mdsConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mds)

# pkg-config: the prefix is taken from the file's own place (pcfiledir), so
# an install moved elsewhere (DESTDIR, a copied prefix) still resolves.
set(MDS_PC_CFLAGS "-DFMT_HEADER_ONLY=1")
if(BLAS_FOUND)
  string(APPEND MDS_PC_CFLAGS " -DMDS_HAVE_BLAS=1")
endif()
if(MDS_HAVE_CUDA)
  string(APPEND MDS_PC_CFLAGS " -DMDS_HAVE_CUDA=1")
endif()
file(RELATIVE_PATH MDS_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
configure_file(${CMAKE_SOURCE_DIR}/cmake/mds.pc.in ${CMAKE_BINARY_DIR}/mds.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/mds.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
