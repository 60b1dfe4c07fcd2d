/**
 * Kubernetes request analysis (issue 13): `analyseKubeRequest(text, facts, shell)` judges one API request into
 * classes and match attributes; `parseRequestInfo(method, target)` resolves it as the API server's request-info
 * resolver does. See analyse.ts for what it owns and docs/kubernetes.md for the classes and match keys.
 */
export { analyseKubeRequest, shellWord, unknownAnalysis, type KubeRequestFacts, type KubeUnitDetail, type ShellJudge } from './analyse.js';
export { groupName, wardenVerb } from './classify.js';
export { parseRequestInfo, type KubeRequestInfo, type RequestInfoResult } from './request-info.js';
export { decodeTarget, MAX_REQUEST_TARGET } from './url.js';
