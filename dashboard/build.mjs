// Copies the graph library into the Python package (src/smimesh/api/static/vendor), with its version
// and license, so `pip install smimesh` needs no Node and the page loads nothing from a CDN.
// Run: cd dashboard && npm ci && npm run build   (then commit the copied file)
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync("node_modules/cytoscape/package.json", "utf8"));
const target = "../src/smimesh/api/static/vendor";
mkdirSync(target, { recursive: true });
copyFileSync("node_modules/cytoscape/dist/cytoscape.min.js", `${target}/cytoscape.min.js`);
copyFileSync("node_modules/cytoscape/LICENSE", `${target}/cytoscape.LICENSE`);
writeFileSync(`${target}/VERSIONS.txt`, `cytoscape ${pkg.version} (${pkg.license}) from npm\n`);
console.log(`vendored cytoscape ${pkg.version} into ${target}`);
