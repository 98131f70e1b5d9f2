// Volumes (berth.volumes.v1): Docker's named and anonymous volumes with its local driver.

export { VolumeStore, RESERVE_MS, DEFAULT_NAMESPACE } from './store';
export type { Volume, VolumeInput } from './store';
export { ANONYMOUS_LABEL, LOCAL_DRIVER, isAnonymous, randomVolumeName, validateVolumeName } from './names';
export { validateDriverOptions, needsMount } from './options';
export { volumesOf, volumeUsers } from './users';
export { copyUp } from './populate';
export type { PopulateResult } from './populate';
export { dirSize, isEmptyDir, mountsAt, removeTree } from './disk';
