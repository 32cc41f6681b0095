/** The API as the stack starts it: the server, its certificate, and what it needs of the installation. */
export { startApiServer, type ApiServer } from './serve';
export { tlsCertificate, type TlsFiles } from './tls';
export type { AppDeps, N8nControl, QueueCluster, RepositoryAccess, ScheduleWorkflow } from './context';
