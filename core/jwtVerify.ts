/**
 * The part of jose the service uses, in a module of its own: core/auth.ts
 * imports it on the first JWT, and a bundle then carries these two functions
 * and what they need, not every export of jose.
 */
export { createRemoteJWKSet, jwtVerify } from "jose";
