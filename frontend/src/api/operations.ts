// Every GraphQL operation the app sends, in one place. graphql-codegen reads these `graphql(...)`
// calls and generates the typed document each one returns (see codegen.ts), so a field that the
// schema renames or drops breaks the type-check, not the user.
import { graphql } from '../gql';

export const UserFields = graphql(`
  fragment UserFields on User {
    id
    name
    email
    role
    title
  }
`);

export const MessageFields = graphql(`
  fragment MessageFields on Message {
    id
    sessionId
    role
    content
    status
    replyToId
    provider
    error
    createdAt
    actions {
      id
      type
      status
      params
      error
    }
    sources {
      knowledgeId
      title
      category
      score
    }
  }
`);

export const NotificationFields = graphql(`
  fragment NotificationFields on Notification {
    id
    message
    priority
    read
    sourceMessageId
    createdAt
    from {
      id
      name
      title
    }
  }
`);

export const SessionFields = graphql(`
  fragment SessionFields on Session {
    id
    title
    createdAt
    lastMessageAt
    messageCount
  }
`);

export const LoginMutation = graphql(`
  mutation Login($email: String!, $password: String!) {
    login(email: $email, password: $password) {
      token
      expiresAt
      user {
        ...UserFields
      }
      tenant {
        id
        name
        kind
      }
    }
  }
`);

export const ColleaguesQuery = graphql(`
  query Colleagues {
    colleagues {
      ...UserFields
    }
  }
`);

export const SessionsQuery = graphql(`
  query Sessions($first: Int, $after: String) {
    sessions(first: $first, after: $after) {
      nodes {
        ...SessionFields
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

export const ConversationQuery = graphql(`
  query Conversation($sessionId: ID!, $last: Int, $before: String) {
    conversation(sessionId: $sessionId, last: $last, before: $before) {
      nodes {
        ...MessageFields
      }
      pageInfo {
        hasPreviousPage
        startCursor
      }
    }
  }
`);

export const SendMessageMutation = graphql(`
  mutation SendMessage($input: SendMessageInput!) {
    sendMessage(input: $input) {
      message {
        ...MessageFields
      }
      session {
        ...SessionFields
      }
    }
  }
`);

export const ConversationEventsSubscription = graphql(`
  subscription ConversationEvents {
    conversationEvents {
      __typename
      ... on AgentReply {
        sessionId
        replyTo
        message {
          ...MessageFields
        }
      }
      ... on AgentReplyDelta {
        sessionId
        replyTo
        delta
      }
      ... on MessageFailed {
        sessionId
        messageId
        error
      }
      ... on MessageStatusChanged {
        sessionId
        messageId
        status
      }
    }
  }
`);

export const InboxQuery = graphql(`
  query Inbox($first: Int, $after: String) {
    notifications(first: $first, after: $after) {
      nodes {
        ...NotificationFields
      }
      pageInfo {
        hasNextPage
        endCursor
      }
      totalCount
    }
    unreadNotificationCount
  }
`);

export const MarkNotificationReadMutation = graphql(`
  mutation MarkNotificationRead($id: ID!) {
    markNotificationRead(id: $id) {
      id
      read
    }
  }
`);

export const MarkAllNotificationsReadMutation = graphql(`
  mutation MarkAllNotificationsRead {
    markAllNotificationsRead
  }
`);

export const NotificationsSubscription = graphql(`
  subscription Notifications {
    notifications {
      ...NotificationFields
    }
  }
`);
