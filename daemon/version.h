#ifndef INTAKE_VERSION_H
#define INTAKE_VERSION_H

/* One version for intaked, intakectl and intaked_build_info. */
#define INTAKE_VERSION	"0.1.0"

#endif
