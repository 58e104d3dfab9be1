#ifndef CROSSTENANT_SERVICES_COMMON_BUILD_INFO_H_
#define CROSSTENANT_SERVICES_COMMON_BUILD_INFO_H_

namespace crosstenant {

// The release version (CMake project version) and the git revision the binary was built from.
extern const char* const kVersion;
extern const char* const kRevision;

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_BUILD_INFO_H_
