export { freePort } from '../../stack/ports';
