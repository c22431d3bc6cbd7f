/**
 * C++ references built from source (ik_llama.cpp from its pinned archive, or a user's checkout), the protocol driver
 * compiled against each, and the guard that says which models a reference can compute. See docs/references.md.
 *
 * @module
 */
export { PINNED_IK_LLAMA } from "./pinned.ts";
export {
  archiveSearchDirs,
  type ArchiveSource,
  archiveSource,
  type CheckoutSource,
  checkoutSource,
  detectLibrary,
  ikSourceFromEnv,
  locateIkArchive,
  type ReferenceLibrary,
  type ReferenceSource,
  ReferenceSourceError,
  sourceKey,
} from "./reference_source.ts";
export { type BuildRecipe, cmakeDefines, cpuFingerprint, RECIPE_VERSION, recipeFor, recipeId } from "./build_recipe.ts";
export { type BuildProgress, etaSeconds, parseBuildLine } from "./build_progress.ts";
export type { ReferenceBuildEvent, ReferenceBuildPhase } from "./build_events.ts";
export {
  type BuildManifest,
  cachedReferenceBuild,
  ensureReferenceBuild,
  type EnsureReferenceBuildOptions,
  machineCpu,
  type ReferenceBuild,
  referenceBuildDir,
  referencesRoot,
} from "./build_reference.ts";
export {
  DRIVER_NAME,
  driverCompileCommand,
  driverIdentity,
  driverSourcePath,
  ensureDriver,
  type EnsureDriverOptions,
  helloDriver,
  type ReferenceDriver,
} from "./driver_build.ts";
export { ReferenceBuildError } from "./_run.ts";
export {
  type ComputeSupport,
  computeSupport,
  GGML_TYPE_IDS,
  type ReferenceId,
  supportMessage,
  type SupportProblem,
  type TensorDesc,
  typeName,
} from "./compute_support.ts";
