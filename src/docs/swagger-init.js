/*
 * swagger-init.js: starts Swagger UI (GET /docs) on this server's
 * /openapi.json.  A file rather than an inline script: the page's
 * Content-Security-Policy allows scripts from this server only.
 */
window.addEventListener("load", function () {
	"use strict";
	window.ui = SwaggerUIBundle({
		url: "/openapi.json",
		dom_id: "#swagger-ui",
		deepLinking: true,
		// No top bar: the page documents this server only.
		layout: "BaseLayout",
		presets: [SwaggerUIBundle.presets.apis],
		// The default asks validator.swagger.io for a badge.
		validatorUrl: null,
		displayRequestDuration: true,
		docExpansion: "list",
		defaultModelsExpandDepth: 0,
		tryItOutEnabled: false
	});
});
