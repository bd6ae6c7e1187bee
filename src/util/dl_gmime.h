/* libgmime-3.0.so.0, loaded on first use (util/dynlib.h). Modules include this header
 * instead of the library's own and call its functions by their usual names.
 * The callers' first-use check is dl_gmime_load(). */
#ifndef CM_UTIL_DL_GMIME_H
#define CM_UTIL_DL_GMIME_H

#include "util/dynlib.h"
#include "util/err.h"

#include <gmime/gmime.h>

/* Every function of the library that certmint (and its tests) calls. */
#define DL_GMIME_FUNCS(X)                                                                          \
    X(internet_address_get_name)                                                                   \
    X(internet_address_list_get_address)                                                           \
    X(internet_address_list_length)                                                                \
    X(internet_address_mailbox_get_addr)                                                           \
    X(internet_address_mailbox_get_type)                                                           \
    X(g_mime_content_type_get_mime_type)                                                           \
    X(g_mime_content_type_is_type)                                                                 \
    X(g_mime_data_wrapper_write_to_stream)                                                         \
    X(g_mime_header_get_name)                                                                      \
    X(g_mime_header_get_value)                                                                     \
    X(g_mime_header_list_get_count)                                                                \
    X(g_mime_header_list_get_header_at)                                                            \
    X(g_mime_init)                                                                                 \
    X(g_mime_message_get_cc)                                                                       \
    X(g_mime_message_get_date)                                                                     \
    X(g_mime_message_get_message_id)                                                               \
    X(g_mime_message_get_mime_part)                                                                \
    X(g_mime_message_get_subject)                                                                  \
    X(g_mime_message_get_to)                                                                       \
    X(g_mime_multipart_get_count)                                                                  \
    X(g_mime_multipart_get_part)                                                                   \
    X(g_mime_multipart_get_type)                                                                   \
    X(g_mime_object_get_content_type)                                                              \
    X(g_mime_object_get_content_type_parameter)                                                    \
    X(g_mime_object_get_header)                                                                    \
    X(g_mime_object_get_header_list)                                                               \
    X(g_mime_object_get_type)                                                                      \
    X(g_mime_parser_construct_message)                                                             \
    X(g_mime_parser_eos)                                                                           \
    X(g_mime_parser_get_mbox_marker_offset)                                                        \
    X(g_mime_parser_new_with_stream)                                                               \
    X(g_mime_parser_options_free)                                                                  \
    X(g_mime_parser_options_new)                                                                   \
    X(g_mime_parser_options_set_warning_callback)                                                  \
    X(g_mime_parser_set_format)                                                                    \
    X(g_mime_parser_tell)                                                                          \
    X(g_mime_part_get_content)                                                                     \
    X(g_mime_part_get_content_encoding)                                                            \
    X(g_mime_part_get_filename)                                                                    \
    X(g_mime_part_get_type)                                                                        \
    X(g_mime_shutdown)                                                                             \
    X(g_mime_stream_fs_new)                                                                        \
    X(g_mime_stream_mem_get_byte_array)                                                            \
    X(g_mime_stream_mem_get_type)                                                                  \
    X(g_mime_stream_mem_new)                                                                       \
    X(g_mime_stream_mem_new_with_buffer)                                                           \
    X(g_mime_stream_mem_new_with_byte_array)                                                       \
    X(g_mime_stream_mem_set_owner)                                                                 \
    X(g_mime_text_part_get_text)                                                                   \
    X(g_mime_text_part_get_type)                                                                   \
    X(g_mime_utils_header_decode_date)                                                             \
    X(g_mime_utils_header_decode_text)                                                             \
    X(g_object_unref)                                                                              \
    X(g_type_check_instance_cast)                                                                  \
    X(g_type_check_instance_is_a)                                                                  \
    X(g_ascii_strcasecmp)                                                                          \
    X(g_ascii_strncasecmp)                                                                         \
    X(g_byte_array_append)                                                                         \
    X(g_byte_array_new)                                                                            \
    X(g_byte_array_set_size)                                                                       \
    X(g_byte_array_unref)                                                                          \
    X(g_date_time_to_unix)                                                                         \
    X(g_date_time_unref)                                                                           \
    X(g_free)                                                                                      \
    X(g_strchomp)                                                                                  \
    X(g_strchug)                                                                                   \
    X(g_strdup)                                                                                    \
    X(g_strndup)

struct dl_gmime_api {
    DL_GMIME_FUNCS(DL_MEMBER)
};

/* Loads libgmime-3.0.so.0 once for the whole process; CM_OK when it is usable, else
 * one error naming `user` (the module), the soname and the reason. */
cm_err dl_gmime_load(const char *user) CM_MUST_USE;

/* The loaded table (aborts if dl_gmime_load never succeeded). */
const struct dl_gmime_api *dl_gmime(void);

#ifndef DL_NO_CALL_NAMES
#define internet_address_get_name (dl_gmime()->internet_address_get_name)
#define internet_address_list_get_address (dl_gmime()->internet_address_list_get_address)
#define internet_address_list_length (dl_gmime()->internet_address_list_length)
#define internet_address_mailbox_get_addr (dl_gmime()->internet_address_mailbox_get_addr)
#define internet_address_mailbox_get_type (dl_gmime()->internet_address_mailbox_get_type)
#define g_mime_content_type_get_mime_type (dl_gmime()->g_mime_content_type_get_mime_type)
#define g_mime_content_type_is_type (dl_gmime()->g_mime_content_type_is_type)
#define g_mime_data_wrapper_write_to_stream (dl_gmime()->g_mime_data_wrapper_write_to_stream)
#define g_mime_header_get_name (dl_gmime()->g_mime_header_get_name)
#define g_mime_header_get_value (dl_gmime()->g_mime_header_get_value)
#define g_mime_header_list_get_count (dl_gmime()->g_mime_header_list_get_count)
#define g_mime_header_list_get_header_at (dl_gmime()->g_mime_header_list_get_header_at)
#define g_mime_init (dl_gmime()->g_mime_init)
#define g_mime_message_get_cc (dl_gmime()->g_mime_message_get_cc)
#define g_mime_message_get_date (dl_gmime()->g_mime_message_get_date)
#define g_mime_message_get_message_id (dl_gmime()->g_mime_message_get_message_id)
#define g_mime_message_get_mime_part (dl_gmime()->g_mime_message_get_mime_part)
#define g_mime_message_get_subject (dl_gmime()->g_mime_message_get_subject)
#define g_mime_message_get_to (dl_gmime()->g_mime_message_get_to)
#define g_mime_multipart_get_count (dl_gmime()->g_mime_multipart_get_count)
#define g_mime_multipart_get_part (dl_gmime()->g_mime_multipart_get_part)
#define g_mime_multipart_get_type (dl_gmime()->g_mime_multipart_get_type)
#define g_mime_object_get_content_type (dl_gmime()->g_mime_object_get_content_type)
#define g_mime_object_get_content_type_parameter                                                   \
    (dl_gmime()->g_mime_object_get_content_type_parameter)
#define g_mime_object_get_header (dl_gmime()->g_mime_object_get_header)
#define g_mime_object_get_header_list (dl_gmime()->g_mime_object_get_header_list)
#define g_mime_object_get_type (dl_gmime()->g_mime_object_get_type)
#define g_mime_parser_construct_message (dl_gmime()->g_mime_parser_construct_message)
#define g_mime_parser_eos (dl_gmime()->g_mime_parser_eos)
#define g_mime_parser_get_mbox_marker_offset (dl_gmime()->g_mime_parser_get_mbox_marker_offset)
#define g_mime_parser_new_with_stream (dl_gmime()->g_mime_parser_new_with_stream)
#define g_mime_parser_options_free (dl_gmime()->g_mime_parser_options_free)
#define g_mime_parser_options_new (dl_gmime()->g_mime_parser_options_new)
#define g_mime_parser_options_set_warning_callback                                                 \
    (dl_gmime()->g_mime_parser_options_set_warning_callback)
#define g_mime_parser_set_format (dl_gmime()->g_mime_parser_set_format)
#define g_mime_parser_tell (dl_gmime()->g_mime_parser_tell)
#define g_mime_part_get_content (dl_gmime()->g_mime_part_get_content)
#define g_mime_part_get_content_encoding (dl_gmime()->g_mime_part_get_content_encoding)
#define g_mime_part_get_filename (dl_gmime()->g_mime_part_get_filename)
#define g_mime_part_get_type (dl_gmime()->g_mime_part_get_type)
#define g_mime_shutdown (dl_gmime()->g_mime_shutdown)
#define g_mime_stream_fs_new (dl_gmime()->g_mime_stream_fs_new)
#define g_mime_stream_mem_get_byte_array (dl_gmime()->g_mime_stream_mem_get_byte_array)
#define g_mime_stream_mem_get_type (dl_gmime()->g_mime_stream_mem_get_type)
#define g_mime_stream_mem_new (dl_gmime()->g_mime_stream_mem_new)
#define g_mime_stream_mem_new_with_buffer (dl_gmime()->g_mime_stream_mem_new_with_buffer)
#define g_mime_stream_mem_new_with_byte_array (dl_gmime()->g_mime_stream_mem_new_with_byte_array)
#define g_mime_stream_mem_set_owner (dl_gmime()->g_mime_stream_mem_set_owner)
#define g_mime_text_part_get_text (dl_gmime()->g_mime_text_part_get_text)
#define g_mime_text_part_get_type (dl_gmime()->g_mime_text_part_get_type)
#define g_mime_utils_header_decode_date (dl_gmime()->g_mime_utils_header_decode_date)
#define g_mime_utils_header_decode_text (dl_gmime()->g_mime_utils_header_decode_text)
#define g_object_unref (dl_gmime()->g_object_unref)
#define g_type_check_instance_cast (dl_gmime()->g_type_check_instance_cast)
#define g_type_check_instance_is_a (dl_gmime()->g_type_check_instance_is_a)
#define g_ascii_strcasecmp (dl_gmime()->g_ascii_strcasecmp)
#define g_ascii_strncasecmp (dl_gmime()->g_ascii_strncasecmp)
#define g_byte_array_append (dl_gmime()->g_byte_array_append)
#define g_byte_array_new (dl_gmime()->g_byte_array_new)
#define g_byte_array_set_size (dl_gmime()->g_byte_array_set_size)
#define g_byte_array_unref (dl_gmime()->g_byte_array_unref)
#define g_date_time_to_unix (dl_gmime()->g_date_time_to_unix)
#define g_date_time_unref (dl_gmime()->g_date_time_unref)
#define g_free (dl_gmime()->g_free)
#define g_strchomp (dl_gmime()->g_strchomp)
#define g_strchug (dl_gmime()->g_strchug)
#define g_strdup (dl_gmime()->g_strdup)
#define g_strndup (dl_gmime()->g_strndup)
DL_GMIME_FUNCS(DL_CHECK_CALL_NAME)
#endif

#endif
