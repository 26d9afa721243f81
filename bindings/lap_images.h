/* lap_images.h: lap_images.c's registration, called by lapL_open_data (lap_data.c).
 * Both add functions to the table on top of the stack. */
#ifndef LAP_IMAGES_BINDINGS_H
#define LAP_IMAGES_BINDINGS_H

#include <lua.h>

/* Dataset methods normalize, subset_random, augment into the method table. */
void lapL_images_methods(lua_State *L);
/* mnist, fashion_mnist, cifar10, cifar100 into the lap.data table. */
void lapL_images_functions(lua_State *L);

#endif
