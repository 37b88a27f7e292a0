// Stylesheets are bundled by esbuild (scripts/build.js) into dist/dashboard/app.css.
declare module "*.css";
