// graphql-codegen: types every GraphQL operation of the app from the server's schema.
//
// The schema is the repository root's `schema.graphql`, written from the server code. Operations
// are written with `graphql(...)` from `src/gql`; the client preset turns each into a typed
// document string (`documentMode: 'string'`), so the app ships no GraphQL parser at run time.
// `src/gql/` is generated (git-ignored): `npm run codegen` writes it, and every npm script that
// type-checks or builds runs it first.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: '../schema.graphql',
  documents: ['src/**/*.{ts,tsx}', '!src/gql/**/*', '!src/**/*.test.{ts,tsx}'],
  ignoreNoDocuments: false,
  generates: {
    './src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        documentMode: 'string',
        enumsAsTypes: true,
        useTypeImports: true,
        strictScalars: true,
        scalars: { DateTime: 'string', JSON: 'unknown' },
        avoidOptionals: { field: true, inputValue: false, object: true, defaultValue: false },
        skipTypename: false,
      },
    },
  },
  silent: true,
};

export default config;
