/**
 * wskit/ws: reserved for the API of the npm `ws` package on wskit's core, so
 * that programs written for ws switch by changing one import. It exports
 * nothing yet.
 *
 * @module
 */
export {};
