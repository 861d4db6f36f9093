/** The longest `user` a request may carry (OpenAI's field; stored, returned, a rate-limit identity). */
export const MAX_USER = 256;
