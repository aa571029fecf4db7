/**
 * Imported first by `npm start`: before the AWS SDK loads, its warning about
 * Node versions it will stop supporting is turned off (the local stack runs
 * on the Node the project supports; the warning is noise at every start).
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
