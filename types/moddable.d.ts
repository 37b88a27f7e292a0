/* Moddable modules our hosts import that npm `@moddable/typings` 5.6.0 does not declare. */

/** The ECMA-419 "system" module: imported for its side effect of putting the board's `device` global in place. */
declare module "system" {}
