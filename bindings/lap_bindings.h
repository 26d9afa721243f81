/* lap_bindings.h: what the Lua binding files share.
 *
 * Each area registers its functions into the `lap` table on top of the stack:
 * lapL_open_tensor (lap.tensor, lap.zeros, ...), lapL_open_data (lap.data),
 * lapL_open_nn (lap.nn), lapL_open_init (lap.init), lapL_open_optim (lap.optim),
 * lapL_open_train (lap.train).  Bindings are thin: they check arguments at the
 * boundary and turn runtime errors (lap_last_error) into Lua errors.
 */
#ifndef LAP_BINDINGS_H
#define LAP_BINDINGS_H

#include <lauxlib.h>
#include <lua.h>

#include "core/tensor.h"
#include "train/dataset.h"

#define LAP_VERSION "0.1.0"

#define LAPL_TENSOR "lap.Tensor"
#define LAPL_DATASET "lap.Dataset"
#define LAPL_MODULE "lap.Module"
#define LAPL_OPTIMIZER "lap.Optimizer"
#define LAPL_TRAINER "lap.Trainer"

int luaopen_lap(lua_State *L);

void lapL_open_tensor(lua_State *L);
void lapL_open_data(lua_State *L);
void lapL_open_nn(lua_State *L);
void lapL_open_conv(lua_State *L);
void lapL_open_init(lua_State *L);
void lapL_open_optim(lua_State *L);
void lapL_open_train(lua_State *L);
void lapL_open_analysis(lua_State *L);
void lapL_open_attack(lua_State *L);
void lapL_open_plot(lua_State *L);
void lapL_open_checkpoint(lua_State *L);
void lapL_open_util(lua_State *L);
void lapL_open_mpi(lua_State *L);

/* Tensors: push takes over one reference of t (pass a retained or new tensor). */
void lapL_pushtensor(lua_State *L, lap_tensor *t);
lap_tensor *lapL_checktensor(lua_State *L, int idx);
lap_tensor *lapL_testtensor(lua_State *L, int idx);   /* NULL if not a tensor */

/* Datasets: push takes over one reference. */
void lapL_pushdataset(lua_State *L, lap_dataset *d);
lap_dataset *lapL_checkdataset(lua_State *L, int idx);

/* Modules: push takes over one reference. */
struct lap_module;
void lapL_pushmodule(lua_State *L, struct lap_module *m);
struct lap_module *lapL_checkmodule(lua_State *L, int idx);
struct lap_module *lapL_testmodule(lua_State *L, int idx);

struct lap_optimizer;
struct lap_optimizer *lapL_checkoptimizer(lua_State *L, int idx);

/* Labels from a Lua table of integers or a 1-D tensor: a malloc'ed int32 array of
 * *count entries (the caller frees it).  Raises a Lua error naming `where`. */
int32_t *lapL_checklabels(lua_State *L, int idx, int64_t *count, const char *where);

/* Raises a Lua error with the runtime's last message. Never returns. */
int lapL_runtime_error(lua_State *L);

/* Option tables: raises "<where>: unknown option 'x' (expected one of a, b, c)" for a
 * key not in `allowed` (NULL-terminated).  A nil/absent table is accepted. */
void lapL_checkoptions(lua_State *L, int idx, const char *where, const char *const allowed[]);
/* Typed option getters; idx is the option table (may be nil/none). */
double lapL_optnumber(lua_State *L, int idx, const char *key, double def, const char *where);
lua_Integer lapL_optinteger(lua_State *L, int idx, const char *key, lua_Integer def, const char *where);
int lapL_optboolean(lua_State *L, int idx, const char *key, int def, const char *where);
/* Integers that must fit a C type or a range: an error "<where>: <what> must be in
 * [min, max], got v" instead of a silent truncation. */
lua_Integer lapL_checkrange(lua_State *L, int idx, lua_Integer min, lua_Integer max, const char *where,
                            const char *what);
lua_Integer lapL_optrange(lua_State *L, int idx, const char *key, lua_Integer def, lua_Integer min,
                          lua_Integer max, const char *where);
const char *lapL_optstring(lua_State *L, int idx, const char *key, const char *def, const char *where);

#endif
