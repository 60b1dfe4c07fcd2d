/**
 * COPY options that turn a masked COPY TO STDOUT into an equality oracle. With `NULL 'guess'`, a stored value
 * equal to the guess is written exactly like a NULL; masking (which reads each line with the same NULL string) then
 * takes it for a NULL and leaves it alone, so the caller learns that the value equals its guess. Only the default
 * NULL strings (`\N` in text, an unquoted empty field in CSV) cannot collide with a stored value: any other is
 * refused for masked sessions. Pure; decides nothing about access.
 */
import { statementFacts } from './copy-statements.js';

/** Why a text's COPY TO STDOUT options must be refused while masking rules apply, or null. */
export function copyOptionRefusal(text: string): string | null {
  for (const copy of statementFacts(text).copies) {
    const standard = copy.format === 'csv' ? '' : '\\N';
    if (copy.nullString !== standard) {
      return 'COPY ... TO STDOUT with a NULL string of its own is refused: masking rules apply to this session, and a ' +
        'stored value equal to that string would be written like a NULL and left unmasked; leave NULL out';
    }
  }
  return null;
}
